# Several professionals reading from one source (client address, its /24 or
# /48 network, its autonomous system): stolen accounts used from one place
# each stay under their own limits, but add up here; and one source reading
# for more professionals than a hospital's NAT would carry.
package accessguard.policy

import rego.v1

shared_source_over(level) if {
	some kind, counts in object.get(input.usage, "sources", {})
	over_limit(cfg.shared_source[kind][level], counts.identity_reads)
}

shared_source_over(level) if {
	some kind, counts in object.get(input.usage, "sources", {})
	some window, limit in cfg.shared_source[kind].professionals[level]
	object.get(counts.professionals, window, 0) > limit
}

deny contains "shared_source_hard_limit" if {
	authenticated
	protected_resource
	shared_source_over("hard")
}

step_up contains "shared_source_soft_limit" if {
	authenticated
	protected_resource
	not phishing_resistant_fresh
	shared_source_over("soft")
}
