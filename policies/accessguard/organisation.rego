# Identity reads of a whole organisation: several stolen accounts of one
# organisation, each under its own limits, still add up here.
package accessguard.policy

import rego.v1

organisation_limits := object.get(
	cfg.bulk_reads.organisation.by_organisation,
	input.subject.organisation,
	cfg.bulk_reads.organisation.default,
)

step_up contains "organisation_read_limit" if {
	input.subject.organisation != ""
	authenticated
	protected_resource
	not phishing_resistant_fresh
	over_limit(organisation_limits, input.usage.organisation.identity_reads)
}
