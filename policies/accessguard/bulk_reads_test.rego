package accessguard.policy_test

import rego.v1

import data.accessguard.policy

reads(one_minute, one_hour, one_day) := patched({"usage": {"identity_reads": {"1m": one_minute, "1h": one_hour, "24h": one_day}}})

test_role_limits_apply if {
	policy.limits.soft["1h"] == 50 with input as professional
}

test_unknown_role_gets_default_limits if {
	policy.limits == data.accessguard.config.bulk_reads.default_role with input as patched({"subject": {"roles": ["midwife"]}})
}

test_under_soft_limit_is_quiet if {
	count(policy.step_up) == 0 with input as reads(0, 49, 100)
}

test_request_counts_towards_the_soft_limit if {
	# 50 read in the last hour plus the one asked for: 51 > 50.
	"bulk_read_soft_limit" in policy.step_up with input as reads(0, 50, 100)
}

test_soft_limit_lifted_by_fresh_webauthn if {
	not "bulk_read_soft_limit" in policy.step_up with input as object.union(reads(0, 50, 100), webauthn_since(60))
}

test_hard_limit_denies_even_with_webauthn if {
	"bulk_read_hard_limit" in policy.deny with input as object.union(reads(200, 200, 200), webauthn_since(60))
}

test_page_over_cap_is_denied if {
	"page_too_large" in policy.deny with input as patched({"request": {"resource": {"requested_count": 101}}})
}

test_page_at_cap_is_not_too_large if {
	not "page_too_large" in policy.deny with input as patched({"request": {"resource": {"requested_count": 100}}})
}

test_thresholds_come_from_data if {
	"bulk_read_soft_limit" in policy.step_up with input as reads(0, 5, 5)
		with data.accessguard.config.bulk_reads.roles.doctor.soft as {"1h": 5}
}
