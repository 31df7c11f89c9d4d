CREATE DATABASE carecoord_assessment;
CREATE DATABASE carecoord_pharmacy;
CREATE DATABASE carecoord_therapy;
CREATE DATABASE carecoord_coordination;
