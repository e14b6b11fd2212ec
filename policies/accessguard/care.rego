# Reads of patients the professional has no care relationship with (the
# app's care_relationship hook answered "none") count against stricter
# limits than the role's. "unknown" (no hook) is not "none".
package accessguard.policy

import rego.v1

without_care if input.care.relationship == "none"

deny contains "no_care_relationship_hard_limit" if {
	without_care
	authenticated
	protected_resource
	over_limit(cfg.bulk_reads.without_care.hard, input.usage.without_care_reads)
}

step_up contains "no_care_relationship_soft_limit" if {
	without_care
	authenticated
	protected_resource
	not phishing_resistant_fresh
	over_limit(cfg.bulk_reads.without_care.soft, input.usage.without_care_reads)
}
