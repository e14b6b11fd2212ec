# Where the request comes from: impossible travel, unexpected countries, places
# never seen for this professional, public addresses no database locates.
# Distances are computed by the signals (Rego has no trigonometry); this module
# only compares them with the thresholds. Private addresses (geo.private) never
# raise a reason on their own.
package accessguard.policy

import rego.v1

# A phishing-resistant factor verified after the previous location was seen
# proves the professional really is at the new place.
verified_since_move if {
	input.authn.phishing_resistant
	input.authn.phishing_resistant_time >= input.geo.previous.time
}

# A move is possible when it took at least the minimum duration of every
# distance band it reaches (bands grow with distance: how people really travel,
# by train or plane, door to door), never one speed for all distances.
too_fast if {
	some band in cfg.geo.travel_min_duration
	input.geo.distance_km >= band.from_km
	input.geo.elapsed_s < band.min_s
}

step_up contains "impossible_travel" if {
	too_fast
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

# A professional reading identity records from a place never seen for them in
# the last 30 days (signals: the places they were allowed to read from). With
# "network_and_city" both must be new; "network_or_city" also catches a relay
# through a proxy in the professional's own city. A professional with no places
# yet (first use) has nothing to compare with.
new_place if {
	cfg.geo.new_place.match == "network_and_city"
	not input.geo.place.network_seen
	not input.geo.place.city_seen
}

new_place if {
	cfg.geo.new_place.match == "network_or_city"
	some seen in [input.geo.place.network_seen, input.geo.place.city_seen]
	seen == false
}

new_place_applies if {
	authenticated
	protected_resource
	input.geo.resolved
	input.geo.place.known > 0
	new_place
}

deny contains "new_place" if {
	cfg.geo.new_place.action == "deny"
	new_place_applies
}

step_up contains "new_place" if {
	cfg.geo.new_place.action == "step_up"
	new_place_applies
	not phishing_resistant_fresh
}

# A public address the geo database does not know: "unresolved", not "nothing
# to say", for requests asking more than cfg.geo.unresolved.requested_above records.
unresolved_public_address if {
	authenticated
	protected_resource
	input.geo.resolved == false
	input.geo.private == false
	input.request.resource.requested_count > cfg.geo.unresolved.requested_above
}

deny contains "unresolved_address" if {
	cfg.geo.unresolved.action == "deny"
	unresolved_public_address
}

step_up contains "unresolved_address" if {
	cfg.geo.unresolved.action == "step_up"
	unresolved_public_address
	not phishing_resistant_fresh
}
