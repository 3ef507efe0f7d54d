"""The model serializer base (core/api/base.py): fields worked out once per class, each instance
with copies of its own."""

from bookings.api.serializers import BookingLineSerializer, BookingSerializer
from core.api.serializers import UserSerializer


def test_each_instance_gets_fields_of_its_own_and_the_template_stays_unbound():
    first, second = UserSerializer(), UserSerializer()
    assert list(first.fields) == list(second.fields) == UserSerializer.Meta.fields
    for name in first.fields:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first
        assert second.fields[name].parent is second
    template = UserSerializer.__dict__["_fields_template"]
    assert all(getattr(field, "parent", None) is None for field in template.values())


def test_the_cache_is_per_class_and_nested_serializers_are_copied_too():
    outer, other = BookingSerializer(), BookingSerializer()
    assert outer.fields["lines"] is not other.fields["lines"]
    assert outer.fields["lines"].child is not other.fields["lines"].child
    assert outer.fields["lines"].child.fields["unit_price"].root is outer
    assert set(BookingLineSerializer().fields) == set(BookingLineSerializer.Meta.fields)
    assert "_fields_template" in BookingSerializer.__dict__
    assert BookingSerializer.__dict__["_fields_template"] is not BookingLineSerializer.__dict__["_fields_template"]


def test_a_serialised_row_is_what_drf_would_write_without_the_cache():
    from rest_framework import serializers

    class Plain(serializers.ModelSerializer):
        class Meta(UserSerializer.Meta):
            pass

    from core.tests.factories import CustomerFactory

    user = CustomerFactory.build(first_name="Asha", phone="+919800000001")
    assert UserSerializer(user).data == Plain(user).data
