"""Finance pages (grants, ledger, fixed allocation, payouts, close, compensation). Included into
funding/urls.py (namespace "funding"); paths carry UUIDs only."""

from django.urls import URLPattern, URLResolver, path

from funding.views import grants as views
from funding.views import rates as rate_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("bidrag/", views.grant_list, name="grant_list"),
    path("bidrag/nytt/", views.grant_create, name="grant_create"),
    path("bidrag/<uuid:pk>/", views.grant_detail, name="grant_detail"),
    path("bidrag/<uuid:pk>/huvudbok/", views.grant_ledger, name="grant_ledger"),
    path(
        "bidrag/<uuid:pk>/fast-ersattning/",
        views.grant_fixed_allocation,
        name="grant_fixed_allocation",
    ),
    path(
        "bidrag/<uuid:pk>/fast-ersattning/bokfor/",
        views.grant_fixed_allocation_post,
        name="grant_fixed_allocation_post",
    ),
    path("bidrag/<uuid:pk>/fordela/", views.grant_allocation, name="grant_allocation"),
    path("bidrag/<uuid:pk>/utbetala/", views.grant_payout, name="grant_payout"),
    path("bidrag/<uuid:pk>/aterbetala/", views.grant_repayment, name="grant_repayment"),
    path("bidrag/<uuid:pk>/avsluta/", views.grant_close, name="grant_close"),
    path("ersattning/", views.compensation_list, name="compensation_list"),
    path("ersattning/betala/", views.compensation_pay, name="compensation_pay"),
    # The per-visit rates (CBHV and admin add; finance and centre managers read).
    path("ersattning/regler/", rate_views.rate_list, name="rate_list"),
]
