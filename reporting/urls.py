"""Report pages (included under "rapporter/"). Paths carry UUIDs only.

`deadline_urlpatterns` is the deadline overview, included under "rapporter/" as well but in
its own namespace, "deadlines" (`deadlines:overview`, which the menu and the reminder mails
name): an app's URLs have one namespace, and a namespace nested in "reporting" would rename it.
"""

from django.urls import URLPattern, URLResolver, path

from reporting import views

app_name = "reporting"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.report_list, name="list"),
    path("bestall/", views.report_request_view, name="request"),
    path("<uuid:pk>/", views.run_detail, name="run"),
    path("<uuid:pk>/fil/", views.run_file, name="file"),
    path("<uuid:pk>/lamna-in/", views.run_submit, name="submit"),
    path("<uuid:pk>/forsok-igen/", views.run_retry, name="retry"),
    path("texter/<str:kind>/<int:year>/<uuid:pk>/", views.narratives, name="narratives"),
]

deadline_urlpatterns: list[URLPattern | URLResolver] = [
    path("att-rapportera/", views.deadline_overview, name="overview"),
]
