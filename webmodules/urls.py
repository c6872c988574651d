from django.urls import path, re_path

from webmodules import sitepages, views

data_patterns = [
    path('openapi.json', views.OpenAPIView.as_view(), name='openapi'),
    path('', views.DataIndexView.as_view(), name='data-index'),
    path('<str:module>', views.DataView.as_view(), {'name': ''}),
    path('<str:module>/', views.DataView.as_view(), {'name': ''}),
    path('<str:module>/<path:name>', views.DataView.as_view(), name='data'),
    re_path(r'^(?P<rest>.*)$', views.data_not_found),
]
web_patterns = [
    path('', sitepages.web_home, name='web-index'),
    path('<str:module>/', views.web_index),
    path('<str:module>/<path:name>', views.web_view, name='web'),
]
