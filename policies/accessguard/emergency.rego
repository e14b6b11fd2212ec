# Break-the-glass. A professional who declared an emergency for a patient
# (POST /accessguard/emergency, which needs a fresh phishing-resistant factor)
# may read that patient's record for cfg.emergency.duration_s, even past the
# reasons listed in cfg.emergency.lifts, from a session that holds a
# phishing-resistant factor. Every such access carries the obligation
# "review": it joins the after-the-fact review queue.
package accessguard.policy

import rego.v1

emergency_access if {
	input.emergency.declared
	authenticated
	protected_resource
	input.authn.phishing_resistant
	input.request.resource.requested_count <= 1
	input.time - input.emergency.declared_at <= cfg.emergency.duration_s
}

lifted contains reason if {
	emergency_access
	some reason in cfg.emergency.lifts
}

step_up contains "phishing_resistant_required" if {
	input.request.action == "declare_emergency"
	authenticated
	not phishing_resistant_fresh
}
