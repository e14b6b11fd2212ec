from django.urls import path

from examples.django_directory import views

urlpatterns = [
    path("patients/<str:patient_id>", views.read_patient),
    path("patients", views.search_patients),
]
