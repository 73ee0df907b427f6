"""Fixed-compensation pages. Paths carry UUIDs only."""

from django.urls import URLPattern, URLResolver, path

from funding import finance_urls
from funding.views import applications as views

app_name = "funding"
urlpatterns: list[URLPattern | URLResolver] = [
    path("ansokningar/", views.application_list, name="application_list"),
    path("ansokningar/att-besluta/", views.inbox, name="inbox"),
    path("ansokningar/ny/", views.application_start, name="application_start"),
    path("ansokningar/<uuid:pk>/", views.application_detail, name="application"),
    path("ansokningar/<uuid:pk>/andra/", views.application_edit, name="application_edit"),
    path(
        "ansokningar/<uuid:pk>/skicka-in/",
        views.application_submit_view,
        name="application_submit",
    ),
    path(
        "ansokningar/<uuid:pk>/aterta/",
        views.application_withdraw_view,
        name="application_withdraw",
    ),
    path(
        "ansokningar/<uuid:pk>/begar-komplettering/",
        views.application_request_changes_view,
        name="application_request_changes",
    ),
    path(
        "ansokningar/<uuid:pk>/bevilja/",
        views.application_approve_view,
        name="application_approve",
    ),
    path("ansokningar/<uuid:pk>/avsla/", views.application_reject_view, name="application_reject"),
    path("bvc/", views.centre_list, name="centre_list"),
    path("bvc/<uuid:pk>/", views.centre_detail, name="centre"),
    path(
        "bvc/<uuid:centre_pk>/ansokan/ny/",
        views.application_create_view,
        name="application_create",
    ),
    path("ersattningsordning/", views.scheme, name="scheme"),
    path("cni/import/", views.cni_import_view, name="cni_import"),
    path("cni/import/spara/", views.cni_import_commit, name="cni_import_commit"),
]
# Money pages for finance (CBHV read-only): grants, ledger, allocation, paying a month.
urlpatterns += finance_urls.urlpatterns
