"""The funding pages: fixed compensation, grants and compensation. Paths carry UUIDs only."""

from django.urls import URLPattern, URLResolver, path

from funding.views import applications as views
from funding.views import centres, compensation, grants

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
    path("bvc/", centres.centre_list, name="centre_list"),
    path("bvc/<uuid:pk>/", centres.centre_detail, name="centre"),
    path(
        "bvc/<uuid:centre_pk>/ansokan/ny/",
        views.application_create_view,
        name="application_create",
    ),
    path("ersattningsordning/", centres.scheme, name="scheme"),
    path("cni/import/", centres.cni_import_view, name="cni_import"),
    path("cni/import/spara/", centres.cni_import_commit, name="cni_import_commit"),
]
# Grants for finance (CBHV read-only): the grant, its ledger, allocation, payouts, close.
urlpatterns += [
    path("bidrag/", grants.grant_list, name="grant_list"),
    path("bidrag/nytt/", grants.grant_create, name="grant_create"),
    path("bidrag/<uuid:pk>/", grants.grant_detail, name="grant_detail"),
    path("bidrag/<uuid:pk>/huvudbok/", grants.grant_ledger, name="grant_ledger"),
    path(
        "bidrag/<uuid:pk>/fast-ersattning/",
        grants.grant_fixed_allocation,
        name="grant_fixed_allocation",
    ),
    path(
        "bidrag/<uuid:pk>/fast-ersattning/bokfor/",
        grants.grant_fixed_allocation_post,
        name="grant_fixed_allocation_post",
    ),
    path("bidrag/<uuid:pk>/fordela/", grants.grant_allocation, name="grant_allocation"),
    path("bidrag/<uuid:pk>/utbetala/", grants.grant_payout, name="grant_payout"),
    path("bidrag/<uuid:pk>/aterbetala/", grants.grant_repayment, name="grant_repayment"),
    path("bidrag/<uuid:pk>/avsluta/", grants.grant_close, name="grant_close"),
]
# Compensation: the statements, paying a month, and the per-visit rates (CBHV and admin add;
# finance and centre managers read).
urlpatterns += [
    path("ersattning/", compensation.compensation_list, name="compensation_list"),
    path("ersattning/betala/", compensation.compensation_pay, name="compensation_pay"),
    path("ersattning/regler/", compensation.rate_list, name="rate_list"),
]
