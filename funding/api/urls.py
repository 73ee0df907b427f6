from django.urls import URLPattern, URLResolver, path

from funding.api import views

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
