package accessguard.policy_test

import rego.v1

import data.accessguard.policy

lagos_after_caen(seconds) := patched({"geo": {
	"country": "NG",
	"city": "Lagos",
	"distance_km": 4758.1,
	"elapsed_s": seconds,
	"speed_kmh": (4758.1 / seconds) * 3600,
}})

test_lagos_seconds_after_caen_is_impossible_travel if {
	"impossible_travel" in policy.step_up with input as lagos_after_caen(20)
}

test_lagos_a_day_after_caen_is_possible if {
	not "impossible_travel" in policy.step_up with input as lagos_after_caen(86400)
}

test_short_hops_stay_under_the_distance_floor if {
	not "impossible_travel" in policy.step_up with input as patched({"geo": {"distance_km": 99, "elapsed_s": 1, "speed_kmh": 356400}})
}

test_webauthn_after_the_move_proves_presence if {
	not "impossible_travel" in policy.step_up with input as object.union(lagos_after_caen(20), webauthn_since(5))
}

test_unresolved_address_raises_nothing if {
	count(policy.step_up) + count(policy.deny) == 0 with input as patched({"geo": {
		"resolved": false,
		"country": null,
		"distance_km": 4758.1,
		"speed_kmh": 856458,
	}})
}

test_country_outside_list_steps_up if {
	"country_not_allowed" in policy.step_up with input as lagos_after_caen(86400)
}

test_country_outside_list_denies_when_configured if {
	"country_not_allowed" in policy.deny with input as lagos_after_caen(86400)
		with data.accessguard.config.geo.country_outside_list as "deny"
}
