package accessguard.policy_test

import rego.v1

import data.accessguard.policy

without_care(relationship, one_hour, one_day) := patched({
	"care": {"relationship": relationship},
	"usage": {"without_care_reads": {"1m": 0, "1h": one_hour, "24h": one_day}},
})

test_under_the_stricter_limit_is_quiet if {
	count(policy.step_up) == 0 with input as without_care("none", 19, 19)
}

test_reads_without_care_hit_the_soft_limit if {
	# 20 read without a care relationship this hour plus the one asked for: 21 > 20.
	"no_care_relationship_soft_limit" in policy.step_up with input as without_care("none", 20, 20)
}

test_soft_limit_lifted_by_fresh_webauthn if {
	not "no_care_relationship_soft_limit" in policy.step_up with input as object.union(without_care("none", 20, 20), webauthn_since(60))
}

test_hard_limit_denies_even_with_webauthn if {
	"no_care_relationship_hard_limit" in policy.deny with input as object.union(without_care("none", 30, 200), webauthn_since(60))
}

test_treating_and_unknown_relationships_are_not_counted_against_it if {
	count(policy.step_up) == 0 with input as without_care("treating", 100, 300)
	count(policy.deny) == 0 with input as without_care("unknown", 100, 300)
}

test_without_care_thresholds_come_from_data if {
	"no_care_relationship_soft_limit" in policy.step_up with input as without_care("none", 3, 3)
		with data.accessguard.config.bulk_reads.without_care.soft as {"1h": 3}
}
