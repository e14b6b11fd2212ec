# Bulk reads of patient identity records: distinct patients per professional
# over sliding windows, projected with the records this request asks for.
package accessguard.policy

import rego.v1

role_limits := [cfg.bulk_reads.roles[r] | some r in input.subject.roles; cfg.bulk_reads.roles[r]]

limits := role_limits[0] if {
	count(role_limits) > 0
} else := cfg.bulk_reads.default_role

requested := input.request.resource.requested_count

# Some window's reads (none counted when absent), with this request's, exceed its limit.
over_limit(window_limits, reads) if {
	some window, limit in window_limits
	object.get(reads, window, 0) + requested > limit
}

deny contains "page_too_large" if {
	requested > cfg.bulk_reads.page_size_cap
	protected_resource
}

deny contains "bulk_read_hard_limit" if {
	authenticated
	protected_resource
	over_limit(limits.hard, input.usage.identity_reads)
}

step_up contains "bulk_read_soft_limit" if {
	authenticated
	protected_resource
	not phishing_resistant_fresh
	over_limit(limits.soft, input.usage.identity_reads)
}
