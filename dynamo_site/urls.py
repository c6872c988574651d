from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from webmodules.urls import data_patterns, web_patterns
from webmodules.views import metrics_view

urlpatterns = [
    path('', RedirectView.as_view(url='/web/inventory/')),
    path('admin/', admin.site.urls),
    path('metrics', metrics_view),
    path('data/', include(data_patterns)),
    path('web/', include(web_patterns)),
]
