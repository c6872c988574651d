# Identity and RoleGrant moved to the accounts app (same tables): only the state goes.
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('webmodules', '0001_initial'),
        ('accounts', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.DeleteModel(name='Identity'),
            migrations.DeleteModel(name='RoleGrant'),
        ]),
    ]
