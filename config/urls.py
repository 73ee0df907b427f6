from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import health, metrics, second_factor_views
from core import views as core_views
from core.api.views import ApiRoot
from reporting.urls import deadline_urlpatterns

api_v1: list[URLPattern | URLResolver] = [
    path("", ApiRoot.as_view(), name="api-root"),
    # funding's centre list (with CNI and fixed compensation) is the one served at centres/.
    path("", include("funding.api.urls")),
    path("", include("core.api.urls")),
    path("", include("visits.api.urls")),
    path("", include("reporting.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),  # no login: core.health
    path("metrics", metrics.metrics, name="metrics"),  # internal only: core.metrics
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", core_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/andra-faktor/", second_factor_views.verify, name="second_factor"),
    path("accounts/andra-faktor/ny/", second_factor_views.enrol, name="second_factor_enrol"),
    path("accounts/andra-faktor/qr.svg", second_factor_views.qr, name="second_factor_qr"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("visits.urls")),
    path("", include("funding.urls")),
    path("rapporter/", include((deadline_urlpatterns, "deadlines"))),
    path("rapporter/", include("reporting.urls")),
    path("api/v1/", include(api_v1)),
]

handler404 = "core.views.not_found"
handler500 = "core.errors.server_error"  # a database outage is a 503 (core.errors)
