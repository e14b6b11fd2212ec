package accessguard.policy_test

import rego.v1

import data.accessguard.policy

organisation_reads(organisation, one_hour, one_day) := patched({
	"subject": {"organisation": organisation},
	"usage": {"organisation": {"identity_reads": {"1m": 0, "1h": one_hour, "24h": one_day}}},
})

test_under_the_organisation_limit_is_quiet if {
	count(policy.step_up) == 0 with input as organisation_reads("chu-caen", 999, 4000)
}

test_organisation_totals_hit_the_limit if {
	"organisation_read_limit" in policy.step_up with input as organisation_reads("chu-caen", 1000, 4000)
}

test_organisation_limit_lifted_by_fresh_webauthn if {
	count(policy.step_up) == 0 with input as object.union(organisation_reads("chu-caen", 1000, 4000), webauthn_since(60))
}

test_an_organisation_may_have_its_own_limit if {
	"organisation_read_limit" in policy.step_up with input as organisation_reads("ch-small", 50, 50)
		with data.accessguard.config.bulk_reads.organisation.by_organisation as {"ch-small": {"1h": 50}}
	count(policy.step_up) == 0 with input as organisation_reads("chu-caen", 50, 50)
		with data.accessguard.config.bulk_reads.organisation.by_organisation as {"ch-small": {"1h": 50}}
}

test_no_organisation_no_organisation_limit if {
	count(policy.step_up) == 0 with input as organisation_reads("", 100000, 100000)
}
