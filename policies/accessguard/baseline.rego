# Slow drips: a professional reading far more distinct patients today than on
# their own usual days AND than their peers (same organisation and role). The
# signals compute the figures (median, 99th percentile: never in Rego, see
# design notes on rego-cpp); this module compares. Without enough history of
# their own, the peers decide; without enough peers, the anchor does (the
# JAMIA 2011 access-monitoring rule: more than 200 records in a day).
package accessguard.policy

import rego.v1

baseline_today := input.usage.baseline.today + requested

above_own_days if {
	input.usage.baseline.own_days >= cfg.baseline.own_min_days
	baseline_today > cfg.baseline.own_factor * input.usage.baseline.own_median
}

above_own_days if input.usage.baseline.own_days < cfg.baseline.own_min_days

above_peers if {
	input.usage.baseline.peers >= cfg.baseline.peers_min
	baseline_today > input.usage.baseline.peers_p99
}

above_peers if {
	input.usage.baseline.peers < cfg.baseline.peers_min
	baseline_today > cfg.baseline.anchor_daily
}

step_up contains "usage_above_baseline" if {
	authenticated
	protected_resource
	not phishing_resistant_fresh
	baseline_today > cfg.baseline.min_daily
	above_own_days
	above_peers
}
