from django.urls import URLPattern, URLResolver, path

from funding.api import applications, centres, compensation, grants, partners

# Included before core's API urls: the centre list with CNI and fixed compensation is served here.
urlpatterns: list[URLPattern | URLResolver] = [
    path("centres/", centres.CentreList.as_view(), name="api-centres"),
    path("centres/<uuid:pk>/", centres.CentreDetail.as_view(), name="api-centre"),
    path("applications/", applications.ApplicationListCreate.as_view(), name="api-applications"),
    path(
        "applications/<uuid:pk>/", applications.ApplicationDetail.as_view(), name="api-application"
    ),
    path(
        "applications/<uuid:pk>/submit/",
        applications.ApplicationSubmit.as_view(),
        name="api-application-submit",
    ),
    path(
        "applications/<uuid:pk>/request-changes/",
        applications.ApplicationRequestChanges.as_view(),
        name="api-application-request-changes",
    ),
    path(
        "applications/<uuid:pk>/approve/",
        applications.ApplicationApprove.as_view(),
        name="api-application-approve",
    ),
    path(
        "applications/<uuid:pk>/reject/",
        applications.ApplicationReject.as_view(),
        name="api-application-reject",
    ),
    path(
        "applications/<uuid:pk>/withdraw/",
        applications.ApplicationWithdraw.as_view(),
        name="api-application-withdraw",
    ),
]

# Grants and their ledger (API.md, "Grants and ledger").
urlpatterns += [
    path("grants/", grants.GrantListCreate.as_view(), name="api-grants"),
    path("grants/<uuid:pk>/", grants.GrantDetail.as_view(), name="api-grant"),
    path("grants/<uuid:pk>/ledger/", grants.GrantLedger.as_view(), name="api-grant-ledger"),
    path(
        "grants/<uuid:pk>/allocations/",
        grants.GrantAllocations.as_view(),
        name="api-grant-allocations",
    ),
    path("grants/<uuid:pk>/payouts/", grants.GrantPayouts.as_view(), name="api-grant-payouts"),
    path(
        "grants/<uuid:pk>/reversals/",
        grants.GrantReversals.as_view(),
        name="api-grant-reversals",
    ),
    path(
        "grants/<uuid:pk>/carry-over/",
        grants.GrantCarryOver.as_view(),
        name="api-grant-carry-over",
    ),
    path("grants/<uuid:pk>/close/", grants.GrantClose.as_view(), name="api-grant-close"),
    path(
        "grants/<uuid:pk>/repayments/",
        grants.GrantRepayments.as_view(),
        name="api-grant-repayments",
    ),
]

# Fixed allocation, compensation statements and paying a month.
urlpatterns += [
    path(
        "grants/<uuid:pk>/fixed-allocation/",
        grants.FixedAllocation.as_view(),
        name="api-grant-fixed-allocation",
    ),
    path("compensation/", compensation.CompensationList.as_view(), name="api-compensation"),
    path("compensation/pay/", compensation.CompensationPay.as_view(), name="api-compensation-pay"),
]

# Partner agreements (an extra: the partners; money moves through the grant's ledger).
urlpatterns += [
    path(
        "partner-agreements/",
        partners.AgreementListCreate.as_view(),
        name="api-partner-agreements",
    ),
    path(
        "partner-agreements/<uuid:pk>/allocate/",
        partners.AgreementAllocate.as_view(),
        name="api-partner-agreement-allocate",
    ),
]

# Compensation rules: the per-visit rates from a date (API.md "Money at the edges").
urlpatterns += [
    path(
        "compensation-rules/",
        compensation.CompensationRuleListCreate.as_view(),
        name="api-compensation-rules",
    ),
]
