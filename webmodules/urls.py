from django.urls import path

from webmodules import views

data_patterns = [
    path('openapi.json', views.OpenAPIView.as_view(), name='openapi'),
    path('<str:module>', views.DataView.as_view(), {'name': ''}),
    path('<str:module>/<path:name>', views.DataView.as_view(), name='data'),
]
web_patterns = [
    path('<str:module>/', views.web_index),
    path('<str:module>/<path:name>', views.web_view, name='web'),
]
