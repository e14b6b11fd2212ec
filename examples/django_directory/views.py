"""The directory's views: each reports the patients it served (``request.META`` is the WSGI environ)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse

from accessguard import report_served
from examples.common import directory

patients = directory()


def read_patient(request: HttpRequest, patient_id: str) -> JsonResponse:
    found = patients.patient(patient_id)
    if found is None:
        raise Http404("no such patient")
    report_served(request.META, [found["id"]])
    return JsonResponse(found)


def search_patients(request: HttpRequest) -> JsonResponse:
    page = patients.patients(request.GET)
    report_served(request.META, [p["id"] for p in page])
    return JsonResponse({"patients": page})
