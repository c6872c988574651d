from django.urls import path

from webmodules import views

urlpatterns = [
    path('inventory/datasets', views.DatasetsView.as_view()),
    path('inventory/sites', views.SitesView.as_view()),
    path('inventory/groups', views.GroupsView.as_view()),
]
