# Where the request comes from: impossible travel and unexpected countries.
# Distances and speeds are computed by the signals (Rego has no trigonometry);
# this module only compares them with the thresholds. Unresolved addresses
# never raise a reason on their own.
package accessguard.policy

import rego.v1

# A phishing-resistant factor verified after the previous location was seen
# proves the professional really is at the new place.
verified_since_move if {
	input.authn.phishing_resistant
	input.authn.phishing_resistant_time >= input.geo.previous.time
}

step_up contains "impossible_travel" if {
	input.geo.speed_kmh > cfg.geo.speed_limit_kmh
	input.geo.distance_km >= cfg.geo.distance_floor_km
	input.geo.resolved
	input.geo.previous.time
	authenticated
	not verified_since_move
}

country_outside_list if {
	input.geo.resolved
	not input.geo.country in cfg.geo.allowed_countries
}

deny contains "country_not_allowed" if {
	cfg.geo.country_outside_list == "deny"
	country_outside_list
	authenticated
}

step_up contains "country_not_allowed" if {
	cfg.geo.country_outside_list == "step_up"
	country_outside_list
	authenticated
	not phishing_resistant_fresh
}
