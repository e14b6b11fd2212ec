# Bulk reads of patient identity records: distinct patients per professional
# over sliding windows, projected with the records this request asks for.
package accessguard.policy

import rego.v1

role_limits := [cfg.bulk_reads.roles[r] | some r in input.subject.roles; cfg.bulk_reads.roles[r]]

limits := role_limits[0] if {
	count(role_limits) > 0
} else := cfg.bulk_reads.default_role

requested := input.request.resource.requested_count

projected_reads(window) := object.get(input.usage.identity_reads, window, 0) + requested

deny contains "page_too_large" if {
	protected_resource
	requested > cfg.bulk_reads.page_size_cap
}

deny contains "bulk_read_hard_limit" if {
	authenticated
	protected_resource
	some window, limit in limits.hard
	projected_reads(window) > limit
}

step_up contains "bulk_read_soft_limit" if {
	authenticated
	protected_resource
	some window, limit in limits.soft
	projected_reads(window) > limit
	not phishing_resistant_fresh
}
