from django.urls import URLPattern, URLResolver, path

from reporting.api import views

# Report runs and deadlines (API.md, "Reports").
urlpatterns: list[URLPattern | URLResolver] = [
    path("reports/", views.ReportListCreate.as_view(), name="api-reports"),
    path("reports/<uuid:pk>/", views.ReportDetail.as_view(), name="api-report"),
    path("reports/<uuid:pk>/file/", views.ReportFile.as_view(), name="api-report-file"),
    path("reports/<uuid:pk>/submit/", views.ReportSubmit.as_view(), name="api-report-submit"),
    path("deadlines/", views.DeadlineList.as_view(), name="api-deadlines"),
]
