# Concurrent live sessions of one professional from distant places: the
# professional is here, and was just seen far away in another session.
# Distances come from the signals; unresolved places never raise this.
package accessguard.policy

import rego.v1

step_up contains "concurrent_distant_sessions" if {
	authenticated
	some other in input.geo.live_sessions
	other.elapsed_s <= cfg.geo.concurrent_sessions.within_s
	other.distance_km >= cfg.geo.concurrent_sessions.distance_km
	not phishing_resistant_fresh
}
