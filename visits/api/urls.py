from django.urls import URLPattern, URLResolver, path

from visits.api import import_views, log_review_views, views

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
    path("access-log/", log_review_views.AccessLogList.as_view(), name="api-access-log"),
    path(
        "access-log/samples/",
        log_review_views.SampleListCreate.as_view(),
        name="api-access-log-samples",
    ),
    path(
        "access-log/samples/<uuid:pk>/",
        log_review_views.SampleDetail.as_view(),
        name="api-access-log-sample",
    ),
    path(
        "access-log/samples/<uuid:pk>/findings/",
        log_review_views.FindingCreate.as_view(),
        name="api-access-log-sample-findings",
    ),
    path(
        "access-log/extract/", log_review_views.LogExtract.as_view(), name="api-access-log-extract"
    ),
    path("visit-imports/", import_views.VisitImportCreate.as_view(), name="api-visit-imports"),
    path(
        "visit-imports/<uuid:pk>/",
        import_views.VisitImportDetail.as_view(),
        name="api-visit-import",
    ),
    path(
        "visit-imports/<uuid:pk>/rows/",
        import_views.VisitImportRows.as_view(),
        name="api-visit-import-rows",
    ),
    path(
        "visit-imports/<uuid:pk>/commit/",
        import_views.VisitImportCommit.as_view(),
        name="api-visit-import-commit",
    ),
]
