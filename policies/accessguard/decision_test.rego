package accessguard.policy_test

import rego.v1

import data.accessguard.policy

test_fresh_mfa_read_is_allowed if {
	policy.decision == {"outcome": "allow", "reasons": [], "step_up": {}, "obligations": {}} with input as professional
}

test_deny_reasons_beat_step_up_reasons if {
	d := policy.decision with input as patched({"authn": {"aal": 1}, "subject": {"status": "suspended"}})
	d.outcome == "deny"
	d.reasons == ["account_suspended"]
}

test_mfa_step_up_offers_otp_or_webauthn if {
	d := policy.decision with input as patched({"authn": {"aal": 1}})
	d.outcome == "step_up"
	d.step_up == {"methods": ["otp", "webauthn"]}
}

test_phishing_resistant_reasons_demand_webauthn if {
	d := policy.decision with input as patched({"request": {"action": "export"}})
	d.step_up == {"methods": ["webauthn"], "max_age": 900}
}

test_the_freshest_max_age_wins if {
	# A large page (WebAuthn within 900 s) by a login older than the read freshness (43200 s).
	d := policy.decision with input as patched({
		"request": {"resource": {"requested_count": 21}},
		"authn": {"auth_time": professional.time - 43201},
	})
	d.reasons == ["phishing_resistant_required", "stale_authentication"]
	d.step_up.max_age == 900
}

test_alert_reasons_become_obligations if {
	d := policy.decision with input as patched({"usage": {"identity_reads": {"1m": 200}}})
	d.outcome == "deny"
	d.obligations == {"alert": ["bulk_read_hard_limit"]}
}

test_a_step_up_reason_behind_a_deny_still_alerts if {
	d := policy.decision with input as patched({"usage": {"identity_reads": {"1m": 200}}, "geo": {"country": "NG"}})
	d.reasons == ["bulk_read_hard_limit"]
	d.obligations == {"alert": ["bulk_read_hard_limit", "country_not_allowed"]}
}

test_reasons_are_sorted if {
	d := policy.decision with input as patched({"authn": {"aal": 1}, "request": {"action": "export"}})
	d.reasons == ["mfa_required", "phishing_resistant_required"]
}
