# Who the subject is and how strongly and how recently they authenticated.
# In every module, a rule body starts with the condition that usually fails:
# the embedded engine stops a body there (docs/policy-authoring.md).
package accessguard.policy

import rego.v1

protected_resource if input.request.resource.type in cfg.protected_resources

authenticated if input.subject.kind != "anonymous"

deny contains "authentication_required" if not authenticated

deny contains "account_suspended" if {
	input.subject.status == "suspended"
	authenticated
}

deny contains "account_suspended" if {
	input.subject.id in cfg.suspended_accounts
	authenticated
}

step_up contains "mfa_required" if {
	input.authn.aal < cfg.mfa.min_aal
	authenticated
	protected_resource
}

action_max_age := object.get(cfg.freshness, input.request.action, cfg.freshness["default"])

step_up contains "stale_authentication" if {
	input.time - input.authn.auth_time > action_max_age
	authenticated
	protected_resource
	input.authn.aal >= cfg.mfa.min_aal
}

# A phishing-resistant factor verified recently enough to lift the
# step-up reasons that demand one.
phishing_resistant_fresh if {
	input.authn.phishing_resistant
	input.time - input.authn.phishing_resistant_time <= cfg.phishing_resistant.max_age
}

requires_phishing_resistant if {
	input.request.resource.requested_count > cfg.phishing_resistant.page_size_above
}

requires_phishing_resistant if input.request.action in cfg.phishing_resistant.actions

step_up contains "phishing_resistant_required" if {
	requires_phishing_resistant
	authenticated
	protected_resource
	not phishing_resistant_fresh
}
