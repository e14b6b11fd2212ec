package accessguard.policy_test

import rego.v1

import data.accessguard.policy

day_of_reads(today, own_median, own_days, peers_p99, peers) := patched({"usage": {"baseline": {
	"today": today,
	"own_median": own_median,
	"own_days": own_days,
	"peers_p99": peers_p99,
	"peers": peers,
}}})

test_far_above_own_days_and_peers_steps_up if {
	"usage_above_baseline" in policy.step_up with input as day_of_reads(95, 30, 20, 45, 6)
}

test_within_three_times_own_median_is_quiet if {
	not "usage_above_baseline" in policy.step_up with input as day_of_reads(80, 30, 20, 45, 6)
}

test_within_the_peers_usual_is_quiet if {
	not "usage_above_baseline" in policy.step_up with input as day_of_reads(100, 10, 20, 140, 6)
}

test_without_history_or_peers_the_anchor_decides if {
	"usage_above_baseline" in policy.step_up with input as day_of_reads(201, 0, 0, 0, 0)
	not "usage_above_baseline" in policy.step_up with input as day_of_reads(199, 0, 0, 0, 0)
}

test_a_few_records_are_never_a_drip if {
	not "usage_above_baseline" in policy.step_up with input as day_of_reads(20, 1, 20, 2, 6)
}

test_baseline_lifted_by_fresh_webauthn if {
	not "usage_above_baseline" in policy.step_up with input as object.union(day_of_reads(95, 30, 20, 45, 6), webauthn_since(60))
}
