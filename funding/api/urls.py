from django.urls import URLPattern, URLResolver, path

from funding.api import ledger_views, money_views, partner_views, rate_views, views

# Included before core's API urls: the centre list with CNI and fixed compensation is served here.
urlpatterns: list[URLPattern | URLResolver] = [
    path("centres/", views.CentreList.as_view(), name="api-centres"),
    path("centres/<uuid:pk>/", views.CentreDetail.as_view(), name="api-centre"),
    path("applications/", views.ApplicationListCreate.as_view(), name="api-applications"),
    path("applications/<uuid:pk>/", views.ApplicationDetail.as_view(), name="api-application"),
    path(
        "applications/<uuid:pk>/submit/",
        views.ApplicationSubmit.as_view(),
        name="api-application-submit",
    ),
    path(
        "applications/<uuid:pk>/request-changes/",
        views.ApplicationRequestChanges.as_view(),
        name="api-application-request-changes",
    ),
    path(
        "applications/<uuid:pk>/approve/",
        views.ApplicationApprove.as_view(),
        name="api-application-approve",
    ),
    path(
        "applications/<uuid:pk>/reject/",
        views.ApplicationReject.as_view(),
        name="api-application-reject",
    ),
    path(
        "applications/<uuid:pk>/withdraw/",
        views.ApplicationWithdraw.as_view(),
        name="api-application-withdraw",
    ),
]

# Grants and their ledger (API.md, "Grants and ledger").
urlpatterns += [
    path("grants/", ledger_views.GrantListCreate.as_view(), name="api-grants"),
    path("grants/<uuid:pk>/", ledger_views.GrantDetail.as_view(), name="api-grant"),
    path("grants/<uuid:pk>/ledger/", ledger_views.GrantLedger.as_view(), name="api-grant-ledger"),
    path(
        "grants/<uuid:pk>/allocations/",
        ledger_views.GrantAllocations.as_view(),
        name="api-grant-allocations",
    ),
    path(
        "grants/<uuid:pk>/payouts/", ledger_views.GrantPayouts.as_view(), name="api-grant-payouts"
    ),
    path(
        "grants/<uuid:pk>/reversals/",
        ledger_views.GrantReversals.as_view(),
        name="api-grant-reversals",
    ),
    path(
        "grants/<uuid:pk>/carry-over/",
        ledger_views.GrantCarryOver.as_view(),
        name="api-grant-carry-over",
    ),
    path("grants/<uuid:pk>/close/", ledger_views.GrantClose.as_view(), name="api-grant-close"),
    path(
        "grants/<uuid:pk>/repayments/",
        ledger_views.GrantRepayments.as_view(),
        name="api-grant-repayments",
    ),
]

# Fixed allocation, compensation statements and paying a month.
urlpatterns += [
    path(
        "grants/<uuid:pk>/fixed-allocation/",
        money_views.FixedAllocation.as_view(),
        name="api-grant-fixed-allocation",
    ),
    path("compensation/", money_views.CompensationList.as_view(), name="api-compensation"),
    path("compensation/pay/", money_views.CompensationPay.as_view(), name="api-compensation-pay"),
]

# Partner agreements (an extra: the partners; money moves through the grant's ledger).
urlpatterns += [
    path(
        "partner-agreements/",
        partner_views.AgreementListCreate.as_view(),
        name="api-partner-agreements",
    ),
    path(
        "partner-agreements/<uuid:pk>/allocate/",
        partner_views.AgreementAllocate.as_view(),
        name="api-partner-agreement-allocate",
    ),
]

# Compensation rules: the per-visit rates from a date (API.md "Money at the edges").
urlpatterns += [
    path(
        "compensation-rules/",
        rate_views.CompensationRuleListCreate.as_view(),
        name="api-compensation-rules",
    ),
]
