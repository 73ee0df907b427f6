"""The deadline overview's URLs: the page (included under the namespace "deadlines") and the
API view (included in `api/v1/`)."""

from django.urls import URLPattern, URLResolver, path

from reporting import deadline_views

api_urlpatterns: list[URLPattern | URLResolver] = [
    path("deadlines/", deadline_views.DeadlineList.as_view(), name="api-deadlines"),
]

page_urlpatterns: list[URLPattern | URLResolver] = [
    path("rapporter/att-rapportera/", deadline_views.deadline_overview, name="overview"),
]
