from django.urls import URLPattern, URLResolver, path

from visits.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("kva-codes/", views.KvaCodeList.as_view(), name="api-kva-codes"),
    path(
        "programme-templates/",
        views.ProgrammeTemplateList.as_view(),
        name="api-programme-templates",
    ),
    path("children/", views.ChildListCreate.as_view(), name="api-children"),
    path("children/<uuid:pk>/", views.ChildDetail.as_view(), name="api-child"),
    path("enrolments/", views.EnrolmentListCreate.as_view(), name="api-enrolments"),
    path("enrolments/<uuid:pk>/", views.EnrolmentDetail.as_view(), name="api-enrolment"),
    path("enrolments/<uuid:pk>/end/", views.EnrolmentEnd.as_view(), name="api-enrolment-end"),
    path("worklist/", views.Worklist.as_view(), name="api-worklist"),
    path("visits/", views.VisitListCreate.as_view(), name="api-visits"),
    path("visits/<uuid:pk>/", views.VisitDetail.as_view(), name="api-visit"),
    path("access-log/", views.AccessLogList.as_view(), name="api-access-log"),
]
