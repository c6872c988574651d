from django.urls import path

from webmodules import views

urlpatterns = [
    path('inventory/datasets', views.DatasetsView.as_view()),
    path('inventory/sites', views.SitesView.as_view()),
    path('inventory/groups', views.GroupsView.as_view()),
]
urlpatterns += [
    path('applications', views.ApplicationsView.as_view()),
    path('applications/list', views.ApplicationsView.as_view()),
    path('applications/poll', views.ApplicationsView.as_view()),
    path('applications/output', views.ApplicationOutputView.as_view()),
]
