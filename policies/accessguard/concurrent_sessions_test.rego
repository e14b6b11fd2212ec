package accessguard.policy_test

import rego.v1

import data.accessguard.policy

live_session(distance_km, elapsed_s) := patched({"geo": {"live_sessions": [{
	"country": "FR",
	"city": "Marseille",
	"distance_km": distance_km,
	"elapsed_s": elapsed_s,
}]}})

test_a_distant_live_session_is_challenged if {
	"concurrent_distant_sessions" in policy.step_up with input as live_session(660, 60)
}

test_a_nearby_live_session_is_not if {
	count(policy.step_up) == 0 with input as live_session(230, 60)
}

test_a_session_seen_long_ago_is_not_concurrent if {
	count(policy.step_up) == 0 with input as live_session(660, 901)
}

test_concurrent_sessions_lifted_by_fresh_webauthn if {
	count(policy.step_up) == 0 with input as object.union(live_session(660, 60), webauthn_since(60))
}

test_no_live_sessions_field_is_quiet if {
	count(policy.step_up) == 0 with input as professional
}

test_concurrent_thresholds_come_from_data if {
	"concurrent_distant_sessions" in policy.step_up with input as live_session(230, 60)
		with data.accessguard.config.geo.concurrent_sessions.distance_km as 200
}
