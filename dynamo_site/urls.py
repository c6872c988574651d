from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from webmodules.urls import data_patterns, web_patterns

urlpatterns = [
    path('', RedirectView.as_view(url='/web/inventory/')),
    path('admin/', admin.site.urls),
    path('data/', include(data_patterns)),
    path('web/', include(web_patterns)),
]
