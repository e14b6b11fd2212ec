# Inputs shared by the Rego unit tests: a doctor in Caen with a fresh TOTP
# login reading one patient record. Each test patches what it is about.
package accessguard.policy_test

import rego.v1

professional := {
	"version": 1,
	"time": 1790000000,
	"request": {
		"method": "GET",
		"route": "patients.read",
		"action": "read",
		"resource": {"type": "patient_identity", "requested_count": 1},
		"ip": "192.0.2.10",
	},
	"subject": {
		"id": "dr.martin",
		"kind": "professional",
		"roles": ["doctor"],
		"organisation": "chu-caen",
		"status": "active",
	},
	"authn": {
		"methods": ["otp", "pwd"],
		"aal": 2,
		"phishing_resistant": false,
		"phishing_resistant_time": 0,
		"auth_time": 1789999400,
		"factor_times": {"otp": 1789999400, "pwd": 1789999380},
	},
	"geo": {
		"resolved": true,
		"country": "FR",
		"city": "Caen",
		"lat": 49.18,
		"lon": -0.37,
		"previous": {"country": "FR", "city": "Caen", "time": 1789999700},
		"distance_km": 0,
		"elapsed_s": 300,
		"speed_kmh": 0,
	},
	"usage": {"identity_reads": {"1m": 0, "1h": 0, "24h": 0}, "distinct_patients_24h": 0},
	"care": {"relationship": "none"},
	"emergency": {"declared": false},
}

# The professional's input with ``patch`` merged in (nested objects merge).
patched(patch) := object.union(professional, patch)

# A WebAuthn (user-verified) factor passed ``age`` seconds ago.
webauthn_since(age) := {"authn": {
	"aal": 3,
	"phishing_resistant": true,
	"phishing_resistant_time": professional.time - age,
}}
