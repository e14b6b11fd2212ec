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

lille_after_caen(seconds) := patched({"geo": {
	"city": "Lille",
	"distance_km": 294,
	"elapsed_s": seconds,
	"speed_kmh": (294 / seconds) * 3600,
}})

test_lille_25_minutes_after_caen_is_impossible_travel if {
	"impossible_travel" in policy.step_up with input as lille_after_caen(1500)
}

test_the_train_from_caen_to_lille_is_possible if {
	not "impossible_travel" in policy.step_up with input as lille_after_caen(12600)
}

at_place(city_seen, network_seen, known) := patched({"geo": {
	"private": false,
	"place": {"city_seen": city_seen, "network_seen": network_seen, "known": known},
}})

test_a_new_network_in_a_new_city_steps_up if {
	"new_place" in policy.step_up with input as at_place(false, false, 4)
}

test_a_new_network_in_a_known_city_passes_by_default if {
	not "new_place" in policy.step_up with input as at_place(true, false, 4)
	"new_place" in policy.step_up with input as at_place(true, false, 4)
		with data.accessguard.config.geo.new_place.match as "network_or_city"
}

test_no_history_no_new_place if {
	not "new_place" in policy.step_up with input as at_place(false, false, 0)
}

unresolved_public(requested) := patched({
	"request": {"resource": {"type": "patient_identity", "requested_count": requested}},
	"geo": {"resolved": false, "private": false, "country": null, "city": null},
})

test_an_unresolved_public_address_steps_up_a_bulk_read if {
	"unresolved_address" in policy.step_up with input as unresolved_public(48)
	not "unresolved_address" in policy.step_up with input as unresolved_public(1)
}

test_an_unresolved_public_address_can_be_denied if {
	"unresolved_address" in policy.deny with input as unresolved_public(48)
		with data.accessguard.config.geo.unresolved.action as "deny"
}
