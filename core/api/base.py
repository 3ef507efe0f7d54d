"""The serializer base class the API's model serializers use.

DRF's ``ModelSerializer`` works its fields out from the model on every instance: for each model
field it reads the field's type, choices, validators and limits and builds a serializer field
(``build_field``, ``get_field_kwargs``). That introspection gives the same answer every time for
a class, and it was the biggest single cost of serialising a response (about 1 ms per serializer
per request here, more than writing 20 rows): a list of bookings builds five of them.

``ModelSerializer`` below works the fields out once per class and gives each instance its own
copy, the way DRF itself treats declared fields (``Serializer.get_fields`` deep-copies
``_declared_fields``; a field's copy is a new instance made from its constructor arguments, so
no state is shared between requests). A serializer whose fields must depend on the request
overrides ``get_fields``, calls ``super()`` and changes the copy it gets.
"""

import copy

from rest_framework import serializers


class ModelSerializer(serializers.ModelSerializer):
    def get_fields(self):
        cls = type(self)
        template = cls.__dict__.get("_fields_template")
        if template is None:
            # Worked out unbound, never handed out itself: only deep copies leave here. Two
            # threads racing on the first request both compute the same template; either wins.
            template = super().get_fields()
            cls._fields_template = template
        return copy.deepcopy(template)
