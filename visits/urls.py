"""The nurse's pages. Paths carry UUIDs only, never an identity number (DOMAIN.md 7)."""

from django.urls import URLPattern, URLResolver, path

from visits import import_views, log_review_views, views

app_name = "visits"
urlpatterns: list[URLPattern | URLResolver] = [
    path("barn/", views.child_list, name="child_list"),
    path("barn/ny/", views.child_create, name="child_create"),
    path("barn/<uuid:pk>/", views.child_detail, name="child_detail"),
    path("barn/<uuid:pk>/andra/", views.child_edit, name="child_edit"),
    path(
        "barn/<uuid:pk>/inskrivningar/ny/",
        views.enrolment_create_view,
        name="enrolment_create",
    ),
    path("inskrivningar/<uuid:pk>/", views.enrolment_detail, name="enrolment_detail"),
    path("inskrivningar/<uuid:pk>/andra/", views.enrolment_edit, name="enrolment_edit"),
    path("inskrivningar/<uuid:pk>/avsluta/", views.enrolment_end_view, name="enrolment_end"),
    path("inskrivningar/<uuid:pk>/besok/ny/", views.visit_create, name="visit_create"),
    path("besok/", views.visit_list, name="visit_list"),
    # The journal import (issue 26).
    path("besok/import/", import_views.import_list, name="import_list"),
    path("besok/import/<uuid:pk>/", import_views.import_detail, name="import_detail"),
    path("besok/import/<uuid:pk>/spara/", import_views.import_commit, name="import_commit"),
    path("besok/<uuid:pk>/", views.visit_detail, name="visit_detail"),
    path("besok/<uuid:pk>/andra/", views.visit_edit, name="visit_edit"),
    # The log reviewer's pages.
    path("logg/", log_review_views.log_list, name="log_list"),
    path("logg/stickprov/", log_review_views.sample_list, name="log_sample_list"),
    path(
        "logg/stickprov/<uuid:pk>/",
        log_review_views.sample_detail,
        name="log_sample_detail",
    ),
    path(
        "logg/stickprov/<uuid:pk>/granska/",
        log_review_views.finding_create,
        name="log_finding_create",
    ),
    path("logg/utdrag/", log_review_views.log_extract, name="log_extract"),
]
