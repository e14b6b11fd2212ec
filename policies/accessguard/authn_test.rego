package accessguard.policy_test

import rego.v1

import data.accessguard.policy

test_anonymous_must_authenticate if {
	"authentication_required" in policy.deny with input as patched({"subject": {"kind": "anonymous", "id": "anonymous"}})
}

test_authenticated_needs_no_login if {
	not "authentication_required" in policy.deny with input as professional
}

test_suspended_status_is_denied if {
	"account_suspended" in policy.deny with input as patched({"subject": {"status": "suspended"}})
}

test_account_in_suspended_list_is_denied if {
	"account_suspended" in policy.deny with input as professional
		with data.accessguard.config.suspended_accounts as ["dr.martin"]
}

test_password_only_steps_up_to_mfa if {
	"mfa_required" in policy.step_up with input as patched({"authn": {"aal": 1, "methods": ["pwd"]}})
}

test_mfa_not_required_off_patient_data if {
	not "mfa_required" in policy.step_up with input as patched({
		"authn": {"aal": 1},
		"request": {"resource": {"type": "appointment"}},
	})
}

test_login_older_than_freshness_is_stale if {
	"stale_authentication" in policy.step_up with input as patched({"authn": {"auth_time": professional.time - 43201}})
}

test_login_within_freshness_is_not_stale if {
	not "stale_authentication" in policy.step_up with input as patched({"authn": {"auth_time": professional.time - 43200}})
}

test_export_needs_phishing_resistant_factor if {
	"phishing_resistant_required" in policy.step_up with input as patched({"request": {"action": "export"}})
}

test_fresh_webauthn_satisfies_export if {
	not "phishing_resistant_required" in policy.step_up with input as patched(object.union(
		{"request": {"action": "export"}},
		webauthn_since(60),
	))
}

test_old_webauthn_does_not_satisfy_export if {
	"phishing_resistant_required" in policy.step_up with input as patched(object.union(
		{"request": {"action": "export"}},
		webauthn_since(901),
	))
}

test_large_page_needs_phishing_resistant_factor if {
	"phishing_resistant_required" in policy.step_up with input as patched({"request": {"resource": {"requested_count": 21}}})
}
