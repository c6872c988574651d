from django.db import migrations


def create(apps, schema_editor):
    apps.get_model('inventory', 'Partition').objects.get_or_create(
        id=1, defaults={'name': 'Default', 'condition': 'blockreplica.owner != None'})
    apps.get_model('inventory', 'InventoryState').objects.get_or_create(id=1)


class Migration(migrations.Migration):
    dependencies = [('inventory', '0001_initial')]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
