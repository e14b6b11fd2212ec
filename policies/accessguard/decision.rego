# The decision document: combines the reasons raised by the other modules
# of this package into one outcome. Deny reasons beat step-up reasons; a
# declared emergency lifts the reasons in cfg.emergency.lifts (emergency.rego).
package accessguard.policy

import rego.v1

cfg := data.accessguard.config

# Reasons that only a phishing-resistant factor (WebAuthn with UV) can satisfy.
phishing_resistant_reasons := {
	"phishing_resistant_required",
	"impossible_travel",
	"country_not_allowed",
	"bulk_read_soft_limit",
	"concurrent_distant_sessions",
	"no_care_relationship_soft_limit",
	"organisation_read_limit",
	"usage_above_baseline",
	"shared_source_soft_limit",
	"new_place",
	"unresolved_address",
}

denied := deny - lifted

challenged := step_up - lifted

outcome := "deny" if {
	count(denied) > 0
} else := "step_up" if {
	count(challenged) > 0
} else := "allow"

reasons := sort([r | some r in denied]) if {
	outcome == "deny"
} else := sort([r | some r in challenged]) if {
	outcome == "step_up"
} else := ["emergency_access"] if {
	emergency_access
} else := []

needs_phishing_resistant_factor if {
	some r in challenged
	r in phishing_resistant_reasons
}

step_up_methods := ["webauthn"] if {
	needs_phishing_resistant_factor
} else := ["otp", "webauthn"]

# The freshest constraint wins when several reasons set a maximum age.
step_up_max_ages contains action_max_age if "stale_authentication" in challenged

step_up_max_ages contains cfg.phishing_resistant.max_age if needs_phishing_resistant_factor

# Not min(): rego-cpp (regopy 1.5.2) orders integers as text in min, max and sort.
step_up_max_age := age if {
	some age in step_up_max_ages
	every other in step_up_max_ages {
		age <= other
	}
}

step_up_requirement := {"methods": step_up_methods, "max_age": step_up_max_age} if {
	outcome == "step_up"
	count(step_up_max_ages) > 0
} else := {"methods": step_up_methods} if {
	outcome == "step_up"
} else := {}

alerts := sort([r | some r in reasons; r in cfg.alert_reasons])

reviews := [r | some r in reasons; r == "emergency_access"]

obligations[name] := codes if {
	some name, codes in {"alert": alerts, "review": reviews}
	count(codes) > 0
}

decision := {
	"outcome": outcome,
	"reasons": reasons,
	"step_up": step_up_requirement,
	"obligations": obligations,
}
