package accessguard.policy_test

import rego.v1

import data.accessguard.policy

# A doctor past the hard limit, from a session with a security key, who
# declared an emergency for the patient ten minutes ago.
declared(ago) := object.union(
	patched({
		"usage": {"identity_reads": {"1m": 0, "1h": 600, "24h": 600}},
		"emergency": {"declared": true, "declared_at": professional.time - ago},
	}),
	webauthn_since(600),
)

test_a_declared_emergency_lifts_the_hard_limit_under_review if {
	d := policy.decision with input as declared(600)
	d.outcome == "allow"
	d.reasons == ["emergency_access"]
	d.obligations == {"review": ["emergency_access"]}
}

test_the_emergency_is_time_boxed if {
	d := policy.decision with input as declared(data.accessguard.config.emergency.duration_s + 1)
	d.reasons == ["bulk_read_hard_limit"]
}

test_a_session_without_a_security_key_cannot_ride_a_declaration if {
	d := policy.decision with input as object.union(declared(600), {"authn": {"phishing_resistant": false}})
	d.outcome == "deny"
}

test_a_declaration_never_lifts_a_suspension if {
	d := policy.decision with input as object.union(declared(600), {"subject": {"status": "suspended"}})
	d.reasons == ["account_suspended"]
}

test_declaring_needs_a_fresh_phishing_resistant_factor if {
	d := policy.decision with input as patched({"request": {
		"route": "accessguard.emergency", "action": "declare_emergency",
		"resource": {"type": "emergency_declaration", "requested_count": 0},
	}})
	d.reasons == ["phishing_resistant_required"]
	d.step_up.methods == ["webauthn"]
}
