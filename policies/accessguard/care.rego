# Reads of patients the professional has no care relationship with (the
# app's care_relationship hook answered "none") count against stricter
# limits than the role's. "unknown" (no hook) is not "none".
package accessguard.policy

import rego.v1

without_care if input.care.relationship == "none"

projected_without_care(window) := object.get(input.usage.without_care_reads, window, 0) + requested

deny contains "no_care_relationship_hard_limit" if {
	authenticated
	protected_resource
	without_care
	some window, limit in cfg.bulk_reads.without_care.hard
	projected_without_care(window) > limit
}

step_up contains "no_care_relationship_soft_limit" if {
	authenticated
	protected_resource
	without_care
	some window, limit in cfg.bulk_reads.without_care.soft
	projected_without_care(window) > limit
	not phishing_resistant_fresh
}
