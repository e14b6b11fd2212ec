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
	authenticated
	protected_resource
	input.subject.organisation != ""
	some window, limit in organisation_limits
	object.get(input.usage.organisation.identity_reads, window, 0) + requested > limit
	not phishing_resistant_fresh
}
