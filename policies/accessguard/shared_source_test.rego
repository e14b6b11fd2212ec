package accessguard.policy_test

import rego.v1

import data.accessguard.policy

from_source(kind, one_minute, professionals) := patched({"usage": {"sources": {kind: {
	"identity_reads": {"1m": one_minute, "1h": one_minute},
	"professionals": {"1h": professionals},
}}}})

test_a_quiet_source_raises_nothing if {
	count(policy.step_up) + count(policy.deny) == 0 with input as from_source("address", 10, 3)
}

test_reads_from_one_address_hit_the_soft_limit if {
	"shared_source_soft_limit" in policy.step_up with input as from_source("address", 100, 6)
}

test_reads_from_one_address_hit_the_hard_limit if {
	"shared_source_hard_limit" in policy.deny with input as from_source("address", 300, 6)
}

test_too_many_professionals_on_one_network if {
	"shared_source_soft_limit" in policy.step_up with input as from_source("network", 2, 41)
	"shared_source_hard_limit" in policy.deny with input as from_source("network", 2, 121)
}

test_shared_source_soft_limit_lifted_by_fresh_webauthn if {
	not "shared_source_soft_limit" in policy.step_up with input as object.union(from_source("asn", 400, 6), webauthn_since(60))
}
