from django.urls import path

from core.api import views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("auth/tokens/", views.TokenList.as_view(), name="api-tokens"),
    path("auth/tokens/<uuid:pk>/", views.TokenDetail.as_view(), name="api-token-detail"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("partners/", views.PartnerList.as_view(), name="api-partners"),
]
